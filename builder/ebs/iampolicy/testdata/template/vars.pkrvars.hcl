groups = ["sg-0123456789abcdef0"]
