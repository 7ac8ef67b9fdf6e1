"""The web app's `feedback` API: a question and a rating in, the rating of the answer this
server gives out, stored. Stateless (no chat session), so behind a proxy any web replica can
take it; with QA_DATABASE_URL every replica writes the same PostgreSQL table."""
from __future__ import annotations

from qa.app.followup import resolve
from qa.app.limits import MAX_COMMENT_CHARS, text_param
from qa.errors import QAError


def rate_json(runtime, question, rating, comment="", previous_question="", request=None) -> dict:
    """Answer the question as `ask` does and store the rating of that answer; an `error` reply
    for refused input (as `ask` refuses it) or a rating that is not up or down."""
    from qa.app.web import error_reply

    refusal = (runtime.question_refusal(previous_question, None, "previous_question")
               or runtime.question_refusal(question, request))
    if refusal:
        return error_reply(question, refusal)
    question, previous_question = ("" if q is None else str(q) for q in (question, previous_question))
    try:
        comment = text_param(comment, "comment", MAX_COMMENT_CHARS)
        assistant = runtime.assistant
        answer = assistant.ask(resolve(previous_question, question, assistant.index))
        row = runtime.feedback.add(answer.question, answer.answer, answer.citations, str(rating),
                                   comment or "", asked=question.strip(), abstained=answer.abstained)
    except QAError as exc:
        return error_reply(question, str(exc))
    return {"id": row, "question": answer.question, "rating": rating}
