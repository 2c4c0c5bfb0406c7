"""One phone call: the session, turn-taking, playout and pacing, barge-in, keys, call actions.

The session knows its socket (:mod:`~telephony.call.transport`), its engines
(:mod:`telephony.speech.base`) and its dialogue (:mod:`~telephony.call.agent`)
only through protocols, so the web layer, the demo and tests can each bring
their own.
"""
