from domain.applicability import ControlFacts, EngagementScope, decide

ALL = frozenset({"ISO27001-2022", "CPS234", "PCIDSS-4.0.1", "PRIVACY-AU"})


def test_control_outside_the_frameworks_in_scope_is_not_applicable_with_a_reason():
    applicable, why = decide(ControlFacts("PCI-01", frozenset({"PCIDSS-4.0.1"})),
                             EngagementScope(frozenset({"CPS234"}), True, True))
    assert not applicable and "PCIDSS-4.0.1" in why


def test_pci_controls_need_card_payments():
    control = ControlFacts("PCI-02", frozenset({"PCIDSS-4.0.1", "ISO27001-2022"}), "card_payments")
    assert decide(control, EngagementScope(ALL, False, True))[0] is False
    assert "card_payments" in decide(control, EngagementScope(ALL, False, True))[1]
    assert decide(control, EngagementScope(ALL, True, False))[0] is True


def test_cross_border_controls_need_offshore():
    control = ControlFacts("XB-01", frozenset({"PRIVACY-AU"}), "offshore")
    assert decide(control, EngagementScope(ALL, True, False)) [0] is False
    applicable, why = decide(control, EngagementScope(ALL, True, True))
    assert applicable and "PRIVACY-AU" in why
