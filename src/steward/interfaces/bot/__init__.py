"""`steward bot`: the operator's desk on Telegram, a thin shell over the same queue functions as `mv`.

config.py (token, allow-lists, API URL) -> cli.py (`add_parser`, `cmd_bot`) -> loop.py (long
polling beside journal passes) -> desk.py (announce pending actions, redraw them from the
journal; the map in engine/telegram.json, steward.state.telegram) and updates.py (who may press
what; approve and reject through steward.app.actions). render.py writes the messages (every
value escaped), feed.py reads the journal from an offset, redact.py keeps the token out of logs.
"""
