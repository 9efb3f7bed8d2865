from flask import Blueprint
bp = Blueprint("email_views", __name__)
