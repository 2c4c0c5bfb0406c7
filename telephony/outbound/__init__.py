"""Calls we place and move: ``dialgraph dial`` and Twilio's REST call control."""
