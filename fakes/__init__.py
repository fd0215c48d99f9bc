"""Local stand-ins for what tests, the benchmark and the README cannot reach: AI providers
(upstream.py, speaking OpenAI's and Anthropic's wire protocols) and Stripe (stripe_standin.py
in front of localstripe). Not part of the application."""
