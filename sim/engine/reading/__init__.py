"""Reading a model: PySD's translator, subscripts, names and units."""
