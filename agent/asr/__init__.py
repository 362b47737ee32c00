"""Speech recognition: a small interface (`base.ASR`), Whisper backends, streaming partials."""
