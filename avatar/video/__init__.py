"""Video files (CreateDigitalHumanVideo): a script or a recording rendered into MP4 or WebM.

spec.py        what a job renders (validated, JSON-serialisable)
speech.py      the soundtrack: TTS sentence by sentence (subtitle cues), or a decoded file
render.py      frame parameters, the three-stage frame pipeline, render_file()
layers.py      fast composition of a static scene around the avatar
matte.py       green-screen keying and person masks
subtitles.py   burned-in sentence subtitles (Pillow, Noto CJK)
encode.py      PyAV: H.264 + AAC in MP4, VP9 (alpha) + Opus in WebM
jobs.py        job records in the database: claim, heartbeat, cancel, recover
execute.py     one job from record to file, whatever runs it
runner.py      the runner interface and the in-process runner
celery_runner.py / celery_app.py   the same jobs on Celery workers with Redis
"""
