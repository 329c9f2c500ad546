{% render 'kiln-early.sh' %}
