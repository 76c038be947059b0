"""The Discord adapter: discord.py slash commands, buttons and modals over the study service.

`adapter.DiscordPlatform` is what `studybot run --platform discord` builds; `render` turns the core's neutral
messages into embeds and button rows within Discord's limits; `publisher` posts scheduled messages.
"""
