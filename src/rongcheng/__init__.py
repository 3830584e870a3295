def hello() -> str:
    return "Hello from rongcheng!"
