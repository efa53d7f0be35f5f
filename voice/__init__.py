"""Voice front end: audio in, speech-to-text, the bot's graph, text-to-speech, audio out."""
