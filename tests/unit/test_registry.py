"""The kind registry: every spec kind is normalised, every action handled, each by its own kind."""

from __future__ import annotations

from reconciler import keys
from reconciler.model import Action
from reconciler.resources.handlers import BY_KIND, HANDLERS
from reconciler.resources.registry import BY_SPEC_KIND, DIFFS, KINDS


class TestEveryKindIsRegisteredOnce:
    """Adding a kind or an action without registering it fails here, not in production."""

    def test_every_spec_kind_has_a_normalisation(self):
        assert list(BY_SPEC_KIND) == list(keys.KINDS)
        assert all(BY_SPEC_KIND[kind].normalise is not None for kind in keys.KINDS)

    def test_kind_names_are_their_modules_and_unique(self):
        names = [kind.name for kind in KINDS]
        assert len(set(names)) == len(names)
        for kind in KINDS:
            funcs = [f for f in (kind.normalise, kind.diff, kind.declared) if f is not None]
            assert {f.__module__ for f in funcs} == {f"reconciler.resources.{kind.name}"}

    def test_every_action_has_exactly_one_handler_from_the_kind_that_owns_it(self):
        owners = [(action, kind.name) for kind in KINDS for action in kind.actions]
        assert sorted(a.value for a, _ in owners) == sorted(a.value for a in Action)
        assert set(HANDLERS) == set(Action)
        for action, kind_name in owners:
            assert action in BY_KIND[kind_name]
            assert HANDLERS[action] is BY_KIND[kind_name][action]
        assert sum(len(handlers) for handlers in BY_KIND.values()) == len(Action)

    def test_device_diff_runs_first_so_its_warnings_lead(self):
        assert DIFFS[0] is BY_SPEC_KIND[keys.KIND_DEVICE].diff
