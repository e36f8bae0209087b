"""HTTP layer: routes parse a request model, make one call below, and return a response model.

app.py      create_app(settings): the lifespan that wires store, model, project and dispatcher
errors.py   the one mapping from BotError subclasses to HTTP statuses and the error envelope
deps.py     what routes depend on: the lifespan's state, API key / helpdesk / admin auth
schemas.py  request and response bodies (requests reject unknown keys)
render.py   domain records → response bodies
metrics.py  the Prometheus counters
routes/     conversations (customers and Rasa's REST channel), helpdesk, ops
"""
