"""The simulated content world's scenarios: the realistic default and the harder "sparse" world."""

import numpy as np

from app.simulate.content_world import SCENARIOS, SEGMENTS, generate_content_world


def test_default_world_has_shop_data_and_denser_history():
    world = generate_content_world(n_customers=3000, seed=5)
    attrs = world.customers["attributes"]
    share = np.mean(["main_category" in a for a in attrs])
    assert 0.6 < share < 0.7
    assert {a["signup"] for a in attrs} == {"discount popup", "organic"}
    sends = world.history.groupby("customer").size().mean()
    assert 20 < sends < 28  # about 30 campaigns x 80% reach over 84 days
    assert np.allclose(world.segment_posterior.sum(axis=1), 1.0)


def test_sparse_scenario_is_the_first_world():
    world = generate_content_world(n_customers=3000, seed=5, scenario="sparse")
    assert not any("main_category" in a or "signup" in a for a in world.customers["attributes"])
    assert world.history["sent_at"].nunique() == len(world.history)
    assert world.now - world.history["sent_at"].min() <= SCENARIOS["sparse"].history_days * 86400
    unlabeled = world.customers["segment"].isna().to_numpy()
    # no shop data: an unlabeled customer's segment posterior is the population share
    assert np.allclose(world.segment_posterior[unlabeled], world.segment_posterior[unlabeled][0])
    assert world.segment_posterior.shape[1] == len(SEGMENTS)
