"""guessgame: the TCP number-guessing game of Effective Python, Item 61.

The server guesses, the client holds the secret. The protocol and the game
live once, without I/O (:mod:`guessgame.protocol`, :mod:`guessgame.game`,
:mod:`guessgame.judge`, :mod:`guessgame.strategies`); the servers
(:mod:`guessgame.server_asyncio`, :mod:`guessgame.server_threads`) and the
clients (:class:`Client`, :class:`AsyncClient`) are thin shells around it.
"""

from .aclient import AsyncClient
from .client import Client
from .game import GameConfig, ServerConnection
from .judge import BadReply, ClientError, ConnectionClosed, Judge, ServerError
from .protocol import Decision, ErrorCode, Lang, ProtocolError
from .records import GameRecord, Outcome
from .server import Backend, ServerConfig, ServerHub
from .strategies import STRATEGIES, Strategy

__all__ = [
    "STRATEGIES",
    "AsyncClient",
    "Backend",
    "BadReply",
    "Client",
    "ClientError",
    "ConnectionClosed",
    "Decision",
    "ErrorCode",
    "GameConfig",
    "GameRecord",
    "Judge",
    "Lang",
    "Outcome",
    "ProtocolError",
    "ServerConfig",
    "ServerConnection",
    "ServerError",
    "ServerHub",
    "Strategy",
]

__version__ = "0.1.0"
