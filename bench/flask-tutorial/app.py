"""The tutorial this blog replaces, ported faithfully as a benchmark reference.

The original is the classic Flask + Flask-SQLAlchemy + MySQL blog: one ``Post`` model
(``id``, ``title`` ``String(128)``, ``body`` ``Text``), and an index that loads every
post with ``Post.query.all()`` and renders them all with a Jinja template. The only
change is ``__tablename__``, so it reads the very rows posts-service serves.

bench/run.sh runs it with gunicorn, 4 sync workers, against the benchmark's MariaDB:

    DATABASE_URL=mysql+pymysql://user:password@127.0.0.1:3306/blog \
        gunicorn -w 4 -b 127.0.0.1:8000 app:app
"""

import os

from flask import Flask, render_template
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
db = SQLAlchemy(app)


class Post(db.Model):
    __tablename__ = "posts"
    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(128))
    body = db.Column(db.Text)


@app.route("/")
def index():
    posts = Post.query.all()
    return render_template("index.html", posts=posts)
