"""The softphone: plays Twilio's side of a call against any Dialgraph URL.

It speaks the real protocol over real sockets: POSTs the signed voice
webhook, follows the TwiML ``<Connect><Stream>``, opens the signed media
WebSocket, streams the caller's audio in real time (a 20 ms frame every
20 ms, silence when the script says nothing), plays the agent's audio at
real time, echoes marks when playback reaches them, honours ``clear``, and
records the call (stereo WAV: left = caller as sent, right = agent as heard)
with the timing of every turn::

    result = await place_call("http://127.0.0.1:8080", load_script("demo.toml"),
                              record_to=Path("var/hello.wav"), print_progress=print)
    print(result.summary())

From the shell: ``dialgraph call http://127.0.0.1:8080 --script demo.toml``.

Script format
-------------
A TOML file: an optional ``description`` string and a list of ``[[step]]``
tables run in order. Each step has exactly one action::

    description = "Book a checkup, then change my mind"

    [[step]]
    wait_for_agent = true        # until the agent has spoken, then been quiet
    quiet_ms = 1000              #   ... for this long (default 1000)
    timeout_ms = 20000           #   ... giving up after this (default 20000)

    [[step]]
    say = "I'd like to book a checkup"   # synthesised in the caller's voice

    [[step]]
    barge_in_after_ms = 700      # start 700 ms after the agent's next audio
    say = "Actually, make it Friday"     #   arrives (interrupting it)

    [[step]]
    play = "clips/cough.wav"     # any PCM WAV (rate, width, channels), path
                                 #   relative to the script file
    [[step]]
    pause_ms = 800               # silence

    [[step]]
    dtmf = "1"                   # keys 0-9 * #, one dtmf event each

    [[step]]
    dtmf = "482913#"             # an entry, keyed at a slower pace:
    dtmf_gap_ms = 300            #   300 ms from key to key (default 200)

    [[step]]
    hangup = true                # stop + close; must be last (implied at the end)

``barge_in_after_ms`` goes with ``say`` or ``play`` (``timeout_ms`` then
bounds the wait for the agent's audio); ``quiet_ms`` only with
``wait_for_agent``; ``dtmf_gap_ms`` only with ``dtmf``. Keys without their
finish key, then ``pause_ms = 5000``, test an app that ends an entry on its
inter-digit timeout (as Twilio's ``<Gather>`` does after 5 s). A timed-out
wait continues the script and adds a warning to the result. ``say`` uses
Piper pitched up by 1.15 unless another ``TextToSpeech`` is passed, so caller
and agent voices differ; all audio is prepared before dialing. Errors name
the file, the step number and the problem.

Timing
------
For each caller input (``say``, ``play``, ``dtmf``) the result records the
end of the caller's speech (the last frame above -45 dBFS) and the first
agent audio received and played after it; see :class:`TurnTiming`.
"""

from .call import CALLER_PITCH, default_caller_voice, main_call, place_call
from .playback import PlaybackBuffer, PlayedFrame
from .result import CallOutcome, CallResult, TurnTiming, write_stereo_wav
from .script import (
    Dtmf,
    Hangup,
    Pause,
    Play,
    Say,
    Script,
    ScriptError,
    Step,
    WaitForAgent,
    load_script,
    parse_script,
)

__all__ = [
    "CALLER_PITCH",
    "CallOutcome",
    "CallResult",
    "Dtmf",
    "Hangup",
    "Pause",
    "Play",
    "PlaybackBuffer",
    "PlayedFrame",
    "Say",
    "Script",
    "ScriptError",
    "Step",
    "TurnTiming",
    "WaitForAgent",
    "default_caller_voice",
    "load_script",
    "main_call",
    "parse_script",
    "place_call",
    "write_stereo_wav",
]
