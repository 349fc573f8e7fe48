"""The telemetry contract tier's machinery (tests/test_contract.py runs it).

- `expectations`: THE CONTRACT, one table: conventions, metrics, the scenario script, the
  upstream limitations;
- `model`: the vocabulary of that table (attribute levels, matchers, specs);
- `harness`: build the services, run them against a collector, drive the scenario script;
- `otlp`: the collector's OTLP/JSON output as comparable records;
- `semconv`, `policy`, `parity`: the three families of checks; `findings`: how they report.
"""
