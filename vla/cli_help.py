"""The ``--help`` layout of every ``vla`` subcommand: the description kept as written, and each
option's default appended once (also for options without a help text; never doubled when the
help already states it)."""

from __future__ import annotations

import argparse
import copy


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Raw description + ``(default: X)`` where the help does not already say it."""

    @staticmethod
    def _has_default(action: argparse.Action) -> bool:
        return bool(action.option_strings) and action.default not in (None, False, argparse.SUPPRESS, "", [], ())

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or not self._has_default(action):
            return text
        return super()._get_help_string(action).strip()

    def _format_action(self, action: argparse.Action) -> str:
        if not action.help and self._has_default(action):  # argparse prints no help line for these
            action = copy.copy(action)
            action.help = "(default: %(default)s)"
        return super()._format_action(action)
