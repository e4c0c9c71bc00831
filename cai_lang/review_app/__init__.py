"""`caic review RUN_DIR`: a local web page where people settle the doubtful AI labels of a run (Starlette, served by uvicorn)."""
