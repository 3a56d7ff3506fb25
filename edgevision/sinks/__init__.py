"""Where results go: payloads, stdout, drawing, recording, MQTT, HTTP."""
