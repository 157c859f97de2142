"""The month as a fixed list of stages, one module each.

=================  ==============================================================  ==========
stage              what happens                                                    module
=================  ==============================================================  ==========
1 calendar         deductibles, health drift, the month's draws                    calendar
2 needs            episodes of need start; patients decide whether to seek care    needs
3 delivery         providers plan units; care is delivered; outcomes                delivery
4 payment          payers settle claims and panels under their contracts           payment
5 adaptation       providers learn from the month and adapt their styles           adaptation
6 records          the month's rows; end-of-month adjustments                      records
=================  ==============================================================  ==========

Stages 2 and 3 run setting by setting, in scenario order, with the features' ``after_care``
right after each setting (the pathway routes a hospital's discharges to the post-acute
settings that follow it). Each stage takes the :class:`~sim.engine.world.World`; optional features
plug in through the hooks of :mod:`sim.engine.features.base`. ``incentives`` recomputes what the
contracts make worth at the margin when they change; ``accounts`` reads a provider's month in
money; ``care`` holds the records of one setting's month.
"""
