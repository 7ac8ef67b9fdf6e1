"""App: the thin outer layer. Questions, commands and uploads in; answers, listings and web pages out: the CLI, the Gradio web app (serving an `api.Assistant` from a holder swapped on re-index), its feedback store and follow-up rewriting.
"""
