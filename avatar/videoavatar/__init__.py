"""Analysis for video avatars (Video Rewrite, Bregler et al. 1997): a short recording of a person
becomes an idle loop plus a library of that person's own mouths, and new speech is rendered by
putting library mouths into the loop.

Modules, in build order:
- source: PyAV decoding (frames, small frames for tracking, 16 kHz audio, phone rotation).
- track: face-mesh landmarks on every frame, face counts, brightness, camera motion.
- checks: the reasons a recording is refused (`VideoChecks` holds the limits).
- geometry: head pose, similarity fits, raw mouth measures and their scale to MouthShape units.
- align: the canonical mouth crop frame, the blend mask, per-frame face regions, teeth.
- loop: the idle loop's cut points (matching frames, quiet mouth) and its cross-fade.
- chroma: green-screen detection and keying with spill suppression.
- store: JPEG/PNG image lists on disk.
At render time: select (the streaming dynamic-programming mouth search) and blend (warp, the
frame's chin moved onto the library mouth's jaw line, colour match, feathered blend). The builder
is avatar.build.video, the renderer avatar.render.video. The build also fits the person's own
audio-to-mouth model (avatar.lipsync.speaker), which audio drives of the avatar then use.
"""
