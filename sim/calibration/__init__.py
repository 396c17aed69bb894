"""Calibration against published figures: provenance of every scenario value (`provenance`),
the backtest against docs/calibration.md (`backtest`) and the Morris screening of the estimates
(`sensitivity`)."""
