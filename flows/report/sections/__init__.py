"""The sections of the annual review, one module each: every ``section(...)`` turns the
rows ``collect`` read into what its part of ``templates/report.html.j2`` shows."""
