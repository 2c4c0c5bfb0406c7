"""`dialgraph eval`: simulated callers that test a flow end to end, judged by outcomes.

- :mod:`telephony.eval.scenario`: the scenario files (YAML), one caller each.
- :mod:`telephony.eval.caller`: the scripted caller that reacts to what the agent says.
- :mod:`telephony.eval.judges`: what must be true at the end, each failure in one line.
- :mod:`telephony.eval.text_mode`: a call played as perfect transcripts (no audio).
- :mod:`telephony.eval.voices`, :mod:`telephony.eval.line`: caller voices and the phone line.
- :mod:`telephony.eval.runner`: a suite run, its progress and its summary.
- :mod:`telephony.eval.report`: the reports: JSON, JUnit XML and one HTML page, redacted.
- :mod:`telephony.eval.audio_mode`, :mod:`telephony.eval.ear`, :mod:`telephony.eval.carrier`:
  whole calls on one server per run, the caller's own ear, Twilio's REST side.
"""
