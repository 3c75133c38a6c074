from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/flask")
def json_view():
    return jsonify(message="Hello, World!")
