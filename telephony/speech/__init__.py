"""Speech engines: recognisers, synthesisers, voice activity, failover, domain language models.

:mod:`telephony.speech.base` holds the protocols the call uses; each other
module implements them for one engine and is imported only when chosen
(:mod:`telephony.services`).
"""
