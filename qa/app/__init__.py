"""App: the thin outer layer. The CLI, the Gradio web app, its feedback store and follow-up rewriting, all calling `api.Assistant`.
"""
