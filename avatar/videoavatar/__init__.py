"""Analysis for video avatars (Video Rewrite style): decoding, face tracking, mouth shapes,
build checks, the idle loop, the mouth library, chroma keying, and the mouth search and blend
used by the video renderer."""
