"""The question bank: YAML files in questions/, validated and loaded into immutable objects."""

from bot.bank.checks import BankFigures, bank_figures, strict_issues
from bot.bank.loader import load_bank
from bot.bank.model import DIFFICULTIES, Bank, Choices, KeyPoint, Question, Topic

__all__ = [
    "DIFFICULTIES",
    "Bank",
    "BankFigures",
    "Choices",
    "KeyPoint",
    "Question",
    "Topic",
    "bank_figures",
    "load_bank",
    "strict_issues",
]
