"""cws — the Community AMI Registry's own command-line client.

It talks to the registry's REST API (``/api/v1``) and to AWS with the user's own credentials;
it never imports Django or the registry's apps, so ``pip install`` of this package alone is a
working client on any machine.
"""

__version__ = "0.1.0"
