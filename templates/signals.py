"""Signals other apps may listen to (decoupled concerns only, e.g. the resolver's cache).

``template_changed`` is sent with ``template=<Template>`` after a template was created, replaced
or re-merged because a parent changed — always after the transaction committed
(``transaction.on_commit``), so a receiver never sees a change that was rolled back.
"""
from django.dispatch import Signal

template_changed = Signal()
