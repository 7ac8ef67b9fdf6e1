"""Data files that apply to any Chinese government text (glossaries, vocabularies), read by loaders."""
