"""Trust in the AI feedback: the statistics, the labels' reliability and the people's review decisions.

`stats.py` holds the small statistics (Wilson intervals, calibration, Cohen's
kappa); `reliability.py` reads a run's labels alone; `decisions.py` keeps the
review page's decisions and turns them into preference rows. This package
imports nothing else of caic's, so the trainer, the evaluation
(`eval/gold.py`: accuracy against people), the reports and the review page
(`cai_lang/review_app/`) all build on it. Nothing here imports torch.
"""
