"""The environment variables through which `sim explore` hands the page its starting settings
(set by :func:`sim.explore.serve`, read by :mod:`sim.explore.app`)."""

#: environment variables through which `sim explore` hands its options to the page
ENV_SCENARIO = "PAYMENT_SIM_EXPLORE_SCENARIO"
ENV_PATIENTS = "PAYMENT_SIM_EXPLORE_PATIENTS"
ENV_MONTHS = "PAYMENT_SIM_EXPLORE_MONTHS"
ENV_REPLICATIONS = "PAYMENT_SIM_EXPLORE_REPLICATIONS"
ENV_SEED = "PAYMENT_SIM_EXPLORE_SEED"
