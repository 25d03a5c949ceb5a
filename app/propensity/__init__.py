"""Content propensity: P(human open | customer, subject line), P(human click | customer, category).

Pure numpy / pandas / scikit-learn: the caller loads history and customers, we fit, score and choose.
"""

from app.propensity.context import CONTEXT_COLUMNS, CustomerContext, contexts_to_frame
from app.propensity.fit import NotEnoughData, fit_category_model, fit_subject_model
from app.propensity.items import FIRST_NAME_TOKEN
from app.propensity.model import FittedModel
from app.propensity.offpolicy import constant_policy, evaluate_policy, uniform_policy
from app.propensity.policy import action_probabilities, choose, choose_batch, policy_matrix
from app.propensity.storage import ModelFormatError

__all__ = [
    "CONTEXT_COLUMNS",
    "FIRST_NAME_TOKEN",
    "CustomerContext",
    "FittedModel",
    "ModelFormatError",
    "NotEnoughData",
    "action_probabilities",
    "choose",
    "choose_batch",
    "constant_policy",
    "contexts_to_frame",
    "evaluate_policy",
    "fit_category_model",
    "fit_subject_model",
    "policy_matrix",
    "uniform_policy",
]
