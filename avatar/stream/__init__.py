"""The stream task runtime: one clock per live task, its drive queue, lip-sync and rendering.

- contract.py: what the API layer and outputs see (LiveTask, statuses, sinks, events).
- task.py: StreamTask, the runtime itself.
- drive.py: one drive's source pulled ahead into a sample FIFO.
- render_host.py: where frames are rendered and composed (thread pool, or worker processes).
- sources.py: TextSource, AudioBytesSource, PushSource; decode.py: streaming WAV/MP3 decoding.
- keywords.py: keyword-triggered actions; testing.py: sinks and recorders for tests and benchmarks.
"""
