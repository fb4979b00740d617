"""The limit: the predictor's own stack answering a constant JSON body without a model.

The same app factory (middleware, metrics, state, model load), the same server runner, event
loop and JSON response builder as ``python -m predictor``; only the route differs: ``POST
/limit`` reads the body and answers a constant prediction-shaped object, so whatever the
predictor spends above this is parsing, inference and answer building.
"""

from __future__ import annotations

import sys

from aiohttp import web

from predictor.__main__ import main
from predictor.api.reply import json_response
from predictor.app import create_app
from predictor.settings import Settings

PATH = "/limit"

# What the predictor answers for one row, with constant values.
ANSWER = {
    "label": "virginica",
    "class_index": 2,
    "probabilities": {"setosa": 0.01, "versicolor": 0.04, "virginica": 0.95},
    "model_version": "limit",
}


async def constant(request: web.Request) -> web.Response:
    await request.read()
    return json_response(ANSWER)


def limit_app(settings: Settings) -> web.Application:
    app = create_app(settings)
    app.router.add_post(PATH, constant)
    return app


if __name__ == "__main__":
    sys.exit(main(limit_app))
