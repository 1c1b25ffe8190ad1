"""Sub-commands of the ``sim`` CLI, one module each."""
