"""The what-if app's library side (``app.py`` is the Streamlit shell over it).

- :mod:`~sim.app.state`: pure conversions between widget values, scenario
  documents (:mod:`sim.scenarios`, as ``sim run``) and runs;
- :mod:`~sim.app.resources`: the files the app reads (calibration results,
  scenario files) and where from;
- :mod:`~sim.app.charts`: chart data and Vega-Lite specifications, tables, CSV;
- :mod:`~sim.app.diagram`: the stock-and-flow diagram (Graphviz DOT) drawn
  from the model's own variables;
- :mod:`~sim.app.i18n`: every UI string in Chinese and English, number formats;
- :mod:`~sim.app.budget`: every run in a worker process within the app's time
  and memory budget (stopped when over it, refused when its estimate is);
- :mod:`~sim.app.worker`: the worker processes' side, and the wire between.

No module here imports Streamlit.
"""
