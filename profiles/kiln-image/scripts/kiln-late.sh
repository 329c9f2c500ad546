{% render 'kiln-late.sh' %}
