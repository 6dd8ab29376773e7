"""The viewer's routes, written once for every test that walks them all.

tests/test_app.py checks that this list and the app's routes match, so a new route fails
there until it is added here, and then every test below walks it too.
"""

# Routes that read a window of the database and take ?minutes=N&end=T.
WINDOW = (
    "/",
    "/charts/instant.svg",
    "/charts/average.svg",
    "/charts/modes.svg",
    "/api/samples",
    "/api/samples.csv",
    "/api/modes",
    "/api/averages",
    "/api/averages.csv",
    "/api/gaps",
)
HEALTH = "/healthz"
METRICS = "/metrics"
STATIC = ("/static/viewer.js", "/static/viewer.css", "/static/favicon.svg")
ALL = (*WINDOW, HEALTH, METRICS, *STATIC)
