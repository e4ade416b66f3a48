"""shaobing (哨兵): the wire contract, configuration helpers and the `shaobing` command shared by edge and central."""

__version__ = "0.1.0"
