"""Send-time personalization: P(human open within 24 h | sent at local hour h) for every customer.

Pure: numpy, pandas, lifelines and scikit-learn only. See model.fit for the entry point.
"""

from app.sendtime.data import CustomerData, SendData
from app.sendtime.explain import checked_explanation, explain, explain_row
from app.sendtime.model import FitResult, cold_start_scores, cold_start_week, default_params, fit
from app.sendtime.profiles import OFFSET_SOURCE_NAMES, SOURCE_NAMES, Profiles

__all__ = ["OFFSET_SOURCE_NAMES", "SOURCE_NAMES", "CustomerData", "FitResult", "Profiles", "SendData",
           "checked_explanation", "cold_start_scores", "cold_start_week", "default_params", "explain",
           "explain_row", "fit"]
