"""The panel people use: a Dash app (django-plotly-dash) over the engine's `Analysis`.

The panel never touches tensors. The browser is not trusted with anything the server reads back:
the analysis and a display-size JPEG of the photo stay on the server (`state`) and the browser
holds only a key to them. Every value that does come from the browser is bounded before use
(`inputs`), and every action that costs real work (analysis, heatmap, PNG) takes a slot of the
visitor's per-minute allowance, the same as the API (`actions`). `components` builds the
results from an analysis, `layout` the page around them, `callbacks` wires the two to Dash,
and `door` is the panel's endpoints, checked like the API before any callback runs.

Importing any of it registers nothing: `app.register` builds the Dash app, once, from
`classifier/urls.py`.
"""
