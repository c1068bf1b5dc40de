"""Docker-style generated names (``adjective_surname``) for services created without a name."""

from __future__ import annotations

import random

ADJECTIVES = (
    "admiring",
    "amazing",
    "awesome",
    "bold",
    "brave",
    "busy",
    "clever",
    "cool",
    "eager",
    "elastic",
    "epic",
    "focused",
    "friendly",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "loving",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "vibrant",
    "wizardly",
    "zealous",
)
SURNAMES = (
    "agnesi",
    "babbage",
    "bardeen",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "fermat",
    "galileo",
    "gauss",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "mccarthy",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "yalow",
    "zhukovsky",
)


def random_name(rng: random.Random) -> str:
    """A fresh name; the caller owns the randomness (the store stays deterministic)."""
    return f"{rng.choice(ADJECTIVES)}_{rng.choice(SURNAMES)}"
