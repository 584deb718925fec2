"""What puts literauth credentials into third-party HTTP clients and SDKs.

Only modules here import such a client; each is imported on first use (`requests` today).
"""
