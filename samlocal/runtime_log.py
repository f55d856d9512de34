"""What the runtime logged at WARNING and above, kept in memory so a test can read it.

    stack.log.tracebacks()  # [] on a clean run: formatted records that carry a traceback
    stack.log.records       # every WARNING+ record since start (or since stack.log.clear())

It listens on the root logger (the runtime, werkzeug, moto, botocore) and on every logger that does
not propagate (Powertools' service loggers write straight to stdout).
"""

from __future__ import annotations

import logging
import threading

_TRACEBACK = "Traceback (most recent call last)"


class RuntimeLog(logging.Handler):
    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []
        self._guard = threading.Lock()
        self._attached: list[logging.Logger] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        # Powertools adds a SuppressFilter for its service to every root handler (to avoid printing
        # its records twice): this handler must still see them.
        return True

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.records.append(record)

    def attach(self) -> None:
        """Listen on the root logger and on every existing logger that does not propagate to it."""
        loggers = [logging.getLogger()]
        loggers += [
            logger
            for logger in list(logging.root.manager.loggerDict.values())
            if isinstance(logger, logging.Logger) and not logger.propagate
        ]
        for logger in loggers:
            if self not in logger.handlers:
                logger.addHandler(self)
                self._attached.append(logger)

    def detach(self) -> None:
        for logger in self._attached:
            logger.removeHandler(self)
        self._attached.clear()

    def clear(self) -> None:
        with self._guard:
            self.records.clear()

    def lines(self) -> list[str]:
        with self._guard:
            records = list(self.records)
        return [self.format(record) for record in records]

    def tracebacks(self) -> list[str]:
        """Every record that carries a traceback (exc_info, or one formatted into its message), formatted."""
        with self._guard:
            records = list(self.records)
        return [
            self.format(record)
            for record in records
            if record.exc_info or record.exc_text or _TRACEBACK in record.getMessage()
        ]
